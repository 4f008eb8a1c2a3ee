from echostream.core.kafka import KafkaError, KafkaException
from replay import services


async def test_a_question_kafka_cannot_answer_now_gives_the_default(caplog):
    def unknown_partition(room_id: str) -> tuple[int, int]:
        raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))

    assert await services._ask_kafka(unknown_partition, "r1", default=(None, None)) == (None, None)
    assert "resume of room r1 goes without Kafka's unknown_partition" in caplog.text


async def test_kafka_s_answer_is_passed_on():
    def position(room_id: str) -> int:
        return 41

    assert await services._ask_kafka(position, "r1", default=None) == 41
