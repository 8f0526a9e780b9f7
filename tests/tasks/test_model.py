"""tlo_embed/tasks/model.py: job states, streams and the public task records."""

from __future__ import annotations

from tlo_embed.codec.cbor import ENC_CBOR, decode, dumps
from tlo_embed.tasks import model
from tlo_embed.tasks.model import TaskOptions


def test_job_stream_prefixes_the_job_id() -> None:
    """A job's history lives in the stream "$job-<id>"."""
    assert model.job_stream("abc") == "$job-abc"
    assert model.job_stream("abc").startswith(model.JOB_STREAM_PREFIX)


def test_waiting_running_and_finished_partition_the_states() -> None:
    """Every state is exactly one of waiting, running or finished."""
    groups = [set(model.WAITING), {model.RUNNING}, set(model.FINISHED)]
    assert set().union(*groups) == set(model.STATES)
    assert sum(len(g) for g in groups) == len(model.STATES) == len(set(model.STATES))


def test_task_options_defaults_are_documented_ones() -> None:
    """Defaults: queue 'default', priority 0, 3 retries, 1 s backoff capped at an hour."""
    opts = TaskOptions()
    assert (opts.queue, opts.priority, opts.retries) == ("default", 0, 3)
    assert (opts.backoff, opts.max_backoff, opts.timeout, opts.exclusive) == (
        1.0, 3600.0, None, False)


def test_task_options_round_trip_through_cbor() -> None:
    """to_data is a CBOR map that from_data turns back into equal options."""
    opts = TaskOptions(queue="q", priority=3, retries=0, backoff=2.5, max_backoff=10.0,
                       timeout=4.0, exclusive=True)
    data = decode(dumps(opts.to_data()), ENC_CBOR)
    assert isinstance(data, dict)
    assert TaskOptions.from_data(data) == opts


def test_task_options_from_data_ignores_unknown_keys() -> None:
    """Keys written by a newer version are ignored; missing keys take defaults."""
    opts = TaskOptions.from_data({"queue": "mail", "from_the_future": 1})
    assert opts == TaskOptions(queue="mail")


def test_task_options_compare_by_value() -> None:
    """Options are values: equal fields, equal options (the registry relies on it)."""
    assert TaskOptions(retries=2) == TaskOptions(retries=2)
    assert TaskOptions(retries=2) != TaskOptions(retries=3)
