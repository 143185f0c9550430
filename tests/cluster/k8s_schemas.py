"""Closed schemas of the Kubernetes core objects cluster/jobs holds besides KubeRay's: the
daily job's CronJob (batch/v1) and its ServiceAccount, Role and RoleBinding.

The full Kubernetes OpenAPI is large and not vendored; these are the subsets of the real
fields (same names, types and enums as the v1 API) that our manifests may use, closed like
the KubeRay CRDs in kuberay_schema.py, so a misspelt field or a wrong value fails here
instead of being rejected (or, for a CronJob's pod template, silently dropped) at apply time.
Offline: nothing is downloaded.
"""

from __future__ import annotations

from typing import Any


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(required), "properties": properties}


STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
QUANTITIES = {"type": "object", "additionalProperties": {"type": ["string", "integer", "number"]}}
METADATA = _closed({
    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
    "namespace": STRING, "labels": STRING_MAP, "annotations": STRING_MAP,
}, ("name",))
ENV_VAR = _closed({"name": STRING, "value": STRING}, ("name",))
CONTAINER = _closed({
    "name": STRING, "image": STRING, "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    "command": STRINGS, "args": STRINGS, "env": {"type": "array", "items": ENV_VAR},
    "resources": _closed({"requests": QUANTITIES, "limits": QUANTITIES}),
    "securityContext": _closed({
        "allowPrivilegeEscalation": {"type": "boolean"}, "readOnlyRootFilesystem": {"type": "boolean"},
        "runAsNonRoot": {"type": "boolean"}, "capabilities": _closed({"drop": STRINGS, "add": STRINGS}),
    }),
    "volumeMounts": {"type": "array", "items": _closed({"name": STRING, "mountPath": STRING, "readOnly": {"type": "boolean"}},
                                                       ("name", "mountPath"))},
}, ("name", "image"))
POD_SPEC = _closed({
    "serviceAccountName": STRING, "restartPolicy": {"enum": ["OnFailure", "Never"]},  # a Job's pods may not use Always
    "securityContext": _closed({"runAsNonRoot": {"type": "boolean"}, "runAsUser": {"type": "integer"},
                                "seccompProfile": _closed({"type": {"enum": ["RuntimeDefault", "Localhost", "Unconfined"]}}, ("type",))}),
    "containers": {"type": "array", "minItems": 1, "items": CONTAINER},
    "volumes": {"type": "array", "items": _closed({"name": STRING, "emptyDir": _closed({"sizeLimit": STRING, "medium": STRING})},
                                                  ("name",))},
}, ("containers", "restartPolicy"))
#: Five fields, each *, a number, a range or a list (what "30 9 * * *" needs; no @daily macros).
CRON = {"type": "string", "pattern": r"^(\*|[0-9,\-/]+)( (\*|[0-9,\-/]+)){4}$"}
CRONJOB = _closed({
    "apiVersion": {"const": "batch/v1"}, "kind": {"const": "CronJob"}, "metadata": METADATA,
    "spec": _closed({
        "schedule": CRON, "timeZone": STRING,
        "concurrencyPolicy": {"enum": ["Allow", "Forbid", "Replace"]},
        "startingDeadlineSeconds": {"type": "integer", "minimum": 0}, "suspend": {"type": "boolean"},
        "successfulJobsHistoryLimit": {"type": "integer", "minimum": 0}, "failedJobsHistoryLimit": {"type": "integer", "minimum": 0},
        "jobTemplate": _closed({"metadata": _closed({"labels": STRING_MAP, "annotations": STRING_MAP}), "spec": _closed({
            "backoffLimit": {"type": "integer", "minimum": 0}, "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
            "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
            "template": _closed({"metadata": _closed({"labels": STRING_MAP, "annotations": STRING_MAP}), "spec": POD_SPEC}, ("spec",)),
        }, ("template",))}, ("spec",)),
    }, ("schedule", "jobTemplate")),
}, ("apiVersion", "kind", "metadata", "spec"))
SERVICE_ACCOUNT = _closed({"apiVersion": {"const": "v1"}, "kind": {"const": "ServiceAccount"}, "metadata": METADATA,
                           "automountServiceAccountToken": {"type": "boolean"}}, ("apiVersion", "kind", "metadata"))
ROLE = _closed({
    "apiVersion": {"const": "rbac.authorization.k8s.io/v1"}, "kind": {"const": "Role"}, "metadata": METADATA,
    "rules": {"type": "array", "items": _closed({
        "apiGroups": STRINGS, "resources": STRINGS, "resourceNames": STRINGS,
        "verbs": {"type": "array", "minItems": 1, "items": {"enum": [
            "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]}},
    }, ("verbs",))},
}, ("apiVersion", "kind", "metadata", "rules"))
ROLE_BINDING = _closed({
    "apiVersion": {"const": "rbac.authorization.k8s.io/v1"}, "kind": {"const": "RoleBinding"}, "metadata": METADATA,
    "roleRef": _closed({"apiGroup": {"const": "rbac.authorization.k8s.io"}, "kind": {"enum": ["Role", "ClusterRole"]}, "name": STRING},
                       ("apiGroup", "kind", "name")),
    "subjects": {"type": "array", "minItems": 1, "items": _closed({
        "kind": {"enum": ["ServiceAccount", "User", "Group"]}, "name": STRING, "namespace": STRING, "apiGroup": STRING,
    }, ("kind", "name"))},
}, ("apiVersion", "kind", "metadata", "roleRef"))
#: (apiVersion, kind) -> its closed schema.
CORE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("batch/v1", "CronJob"): CRONJOB,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNT,
    ("rbac.authorization.k8s.io/v1", "Role"): ROLE,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ROLE_BINDING,
}
