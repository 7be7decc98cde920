#!/usr/bin/env python3
"""Another team's consumer of jobsched's events, in Python.

Subscribes to `job-events` with its own consumer group, decodes each record
as a jobsched.v1.Envelope and prints one line per event (or one JSON object
per line with --json). Offsets are committed after the events were printed,
so delivery is at least once; a repeat (same event_id) is dropped here.

Needs Debian's python3-protobuf and python3-confluent-kafka, and the Python
classes generated from schemas/ (not committed):

    protoc --python_out=/tmp/jobsched-py -I schemas schemas/jobsched/v1/*.proto
    PYTHONPATH=/tmp/jobsched-py /usr/bin/python3 \\
        tests/consumers/python/jobsched_consumer.py --group my-team-audit

The broker defaults to the dev stack's (.dev/bootstrap, written by
infra/dev.sh); the topic name takes $JOBSCHED_TOPIC_PREFIX like jobsched does.
tests/consumers/python_consumer_test.cc runs it against the dev broker.
"""

import argparse
import collections
import json
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from jobsched.v1 import events_pb2


def log(msg):
    print(f"jobsched_consumer: {msg}", file=sys.stderr, flush=True)


def default_bootstrap():
    if os.environ.get("JOBSCHED_BOOTSTRAP"):
        return os.environ["JOBSCHED_BOOTSTRAP"]
    path = os.environ.get("JOBSCHED_BOOTSTRAP_FILE", ".dev/bootstrap")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


class RecentIds:
    """The last `capacity` event ids seen: at-least-once delivery repeats an
    event only shortly after its first delivery (a redelivery after a restart,
    a producer retry), so a bounded window is enough to drop repeats."""

    def __init__(self, capacity=100_000):
        self._ids = collections.OrderedDict()
        self._capacity = capacity

    def seen(self, event_id):
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return False


def event_type(envelope):
    """'RunDue', 'JobSubmitted', ...; None for an event this code does not know."""
    field = envelope.WhichOneof("event")
    if field is None:
        return None
    return envelope.DESCRIPTOR.fields_by_name[field].message_type.name


def as_json(record, envelope, etype):
    field = envelope.WhichOneof("event")
    return json.dumps({
        "topic": record.topic(),
        "partition": record.partition(),
        "offset": record.offset(),
        "key": (record.key() or b"").decode("utf-8", "replace"),
        "event_id": envelope.event_id,
        "job_id": envelope.job_id,
        "event_type": etype,
        "occurred_at": envelope.occurred_at.ToJsonString(),
        "producer": envelope.producer,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "event": json_format.MessageToDict(getattr(envelope, field),
                                           preserving_proto_field_name=True),
    }, sort_keys=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=default_bootstrap(),
                        help="Kafka bootstrap servers (default: $JOBSCHED_BOOTSTRAP, "
                             "else the file $JOBSCHED_BOOTSTRAP_FILE or .dev/bootstrap)")
    parser.add_argument("--topic",
                        default=os.environ.get("JOBSCHED_TOPIC_PREFIX", "") + "job-events")
    parser.add_argument("--group", default="example-team-jobsched-consumer",
                        help="your team's own consumer group (committed offsets live there)")
    parser.add_argument("--from", dest="start", choices=["earliest", "latest"],
                        default="earliest",
                        help="where a NEW group starts; a known group resumes where it left")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--max-events", type=int, default=0,
                        help="exit after this many new events (0: run until Ctrl-C)")
    parser.add_argument("--timeout", type=float, default=0,
                        help="exit with status 3 after this many seconds (0: never)")
    args = parser.parse_args()
    if not args.bootstrap:
        parser.error("no broker: give --bootstrap, or run infra/dev.sh first")

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": args.start,
        # Commit by hand, after the events were handled: at least once.
        "enable.auto.commit": False,
        "client.id": "jobsched-python-consumer",
        # The dev broker keeps a member that left until its session times out,
        # and a new member waits for it: librdkafka's default 45 s would stall
        # every restart of this consumer that long. A real broker is fine either way.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    })
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    consumer.subscribe([args.topic])
    log(f"subscribed to {args.topic} on {args.bootstrap} as group {args.group}")

    recent = RecentIds()
    printed = 0
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    status = 0
    try:
        while not stop and (args.max_events == 0 or printed < args.max_events):
            if deadline is not None and time.monotonic() > deadline:
                log(f"timeout: {printed} event(s) after {args.timeout} s")
                status = 3
                break
            records = consumer.consume(num_messages=100, timeout=0.5)
            handled = {}  # (topic, partition) -> next offset to read
            for record in records:
                if args.max_events and printed >= args.max_events:
                    break  # the rest of the batch is for the next run
                if record.error():
                    if record.error().code() != KafkaError._PARTITION_EOF:
                        log(f"consumer error: {record.error()}")
                    continue
                handled[(record.topic(), record.partition())] = record.offset() + 1
                envelope = events_pb2.Envelope()
                try:
                    envelope.ParseFromString(record.value() or b"")
                except DecodeError as e:
                    log(f"skipped {record.topic()}[{record.partition()}]@{record.offset()}: "
                        f"not an Envelope ({e})")
                    continue
                if not envelope.event_id or not envelope.job_id:
                    log(f"skipped {record.topic()}[{record.partition()}]@{record.offset()}: "
                        "not an Envelope (no event_id or job_id)")
                    continue
                etype = event_type(envelope)
                if etype is None:
                    # Written by a newer schema: skip it, never crash (schemas/README.md).
                    log(f"skipped event {envelope.event_id} of job {envelope.job_id}: "
                        "an event type this consumer does not know (newer schema)")
                    continue
                if recent.seen(envelope.event_id):
                    continue
                if args.json:
                    print(as_json(record, envelope, etype), flush=True)
                else:
                    print(f"{envelope.occurred_at.ToJsonString()}  {envelope.job_id}  "
                          f"{etype:<22} {envelope.event_id}", flush=True)
                printed += 1
            if handled:
                # After printing: a crash before this line means a redelivery, not a loss.
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in handled.items()],
                                asynchronous=False)
    except KafkaException as e:
        log(f"kafka: {e}")
        status = 1
    finally:
        consumer.close()  # leaves the group, so its partitions move at once
    return status


if __name__ == "__main__":
    sys.exit(main())
