"""Prefect automation documents as Prefect 3 exports them (GET /automations/{id})."""

from __future__ import annotations

from typing import Any

WOODCHONK: dict[str, Any] = {
    "id": "0b5a0e2c-6c1e-4f7b-9d6e-3f1c2b9a8d71",
    "created": "2025-03-04T05:06:07.123456Z",
    "updated": "2025-03-04T05:06:08.654321Z",
    "name": "woodchonk",
    "description": "",
    "enabled": True,
    "tags": [],
    "trigger": {
        "type": "event",
        "id": "9a1e4a32-8f77-4b7e-b0c5-0d2e1c6f5a41",
        "match": {"genus": "Marmota", "species": "monax"},
        "match_related": {},
        "after": [],
        "expect": ["animal.walked"],
        "for_each": [],
        "posture": "Reactive",
        "threshold": 3,
        "within": 10.0,
    },
    "actions": [{"type": "cancel-flow-run"}],
    "actions_on_trigger": [],
    "actions_on_resolve": [],
}

STUCK_RUNS: dict[str, Any] = {
    "id": "5d0b4c3a-2e1f-4a6b-8c7d-9e0f1a2b3c4d",
    "created": "2025-03-04T05:06:07Z",
    "updated": "2025-03-04T05:06:07Z",
    "name": "cancel stuck runs",
    "description": "flow runs stuck in Running for 15 s",
    "enabled": True,
    "tags": ["ops", "prod"],
    "trigger": {
        "type": "compound",
        "id": "11111111-2222-4333-8444-555555555555",
        "triggers": [
            {
                "type": "event",
                "id": "21111111-2222-4333-8444-555555555555",
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "match_related": [
                    {"prefect.resource.role": "flow", "prefect.resource.name": ["etl", "load"]},
                    {"prefect.resource.role": "tag", "prefect.resource.id": "!prefect.tag.dev"},
                ],
                "after": ["prefect.flow-run.Running"],
                "expect": [
                    "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed",
                    "prefect.flow-run.Crashed",
                ],
                "for_each": ["prefect.resource.id"],
                "posture": "Proactive",
                "threshold": 1,
                "within": 15.0,
            },
            {
                "type": "sequence",
                "id": "31111111-2222-4333-8444-555555555555",
                "triggers": [
                    {
                        "type": "event",
                        "id": "41111111-2222-4333-8444-555555555555",
                        "match": {},
                        "match_related": {},
                        "after": [],
                        "expect": ["a.b"],
                        "for_each": [],
                        "posture": "Reactive",
                        "threshold": 1,
                        "within": 0.0,
                    }
                ],
                "within": None,
            },
        ],
        "within": 3600.0,
        "require": "any",
    },
    "actions": [
        {
            "type": "run-deployment",
            "source": "selected",
            "deployment_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "parameters": {
                "name": "{{ event.resource.name }}",
                "retries": 3,
                "nested": {"x": [1, 2.5]},
            },
            "job_variables": None,
            "schedule_after": 0.0,
        },
        {"type": "pause-deployment", "source": "inferred", "deployment_id": None},
        {"type": "resume-deployment", "source": "inferred", "deployment_id": None},
        {"type": "cancel-flow-run"},
        {"type": "suspend-flow-run"},
        {"type": "resume-flow-run"},
        {
            "type": "change-flow-run-state",
            "name": "Gave up",
            "state": "FAILED",
            "message": None,
            "force": False,
        },
        {"type": "delete-flow-run"},
        {"type": "pause-work-queue", "source": "inferred", "work_queue_id": None},
        {
            "type": "resume-work-queue",
            "source": "selected",
            "work_queue_id": "bbbbbbbb-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        },
        {
            "type": "pause-work-pool",
            "source": "selected",
            "work_pool_id": "cccccccc-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        },
        {"type": "resume-work-pool", "source": "inferred", "work_pool_id": None},
        {"type": "pause-automation", "source": "inferred", "automation_id": None},
        {
            "type": "resume-automation",
            "source": "selected",
            "automation_id": "dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        },
        {"type": "do-nothing"},
    ],
    "actions_on_trigger": [
        {
            "type": "send-notification",
            "block_document_id": "eeeeeeee-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "subject": "Prefect automated notification",
            "body": "{{ flow_run.name }} is stuck",
        }
    ],
    "actions_on_resolve": [
        {
            "type": "call-webhook",
            "block_document_id": "ffffffff-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "payload": '{"run": "{{ event.resource.id }}"}',
        }
    ],
}

METRIC: dict[str, Any] = {
    "name": "success rate",
    "description": "",
    "enabled": False,
    "tags": [],
    "trigger": {
        "type": "metric",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {},
        "posture": "Metric",
        "metric": {
            "name": "successes",
            "threshold": 0.8,
            "operator": "<",
            "range": 600.0,
            "firing_for": 300.0,
        },
    },
    "actions": [{"type": "do-nothing"}],
    "actions_on_trigger": [],
    "actions_on_resolve": [],
}

DOCUMENTS = {"woodchonk": WOODCHONK, "stuck_runs": STUCK_RUNS, "metric": METRIC}
