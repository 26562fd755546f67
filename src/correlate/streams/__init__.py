"""The Kafka edge: topics, the stream workers around the detection core, feeds in and out."""

__all__: list[str] = []
