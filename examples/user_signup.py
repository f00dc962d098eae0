"""Best practice: descriptive step names.

A step's name is its identity in the event log, in ``vrb runs show``, in the
step graph and in every metric: ``step-1``/``step-2`` tell an operator nothing
at three in the morning, and they break as soon as a step is inserted.
Name each step for what it does, kebab-case, and keep the name when the
Python function is renamed (the name, not the function, identifies recorded
history).
"""

from __future__ import annotations

from typing import Any

from runtime import NonRetryableError, WorkflowContext, step, workflow

ACCOUNTS: dict[str, dict[str, Any]] = {}
OUTBOX: list[dict[str, str]] = []


@step("validate-user-input", retries=2)
async def validate_user_input(form: dict[str, Any]) -> dict[str, Any]:
    email = str(form.get("email", "")).strip().lower()
    if "@" not in email:
        # Retrying cannot fix a bad address: fail at once.
        raise NonRetryableError(f"invalid email address {form.get('email')!r}")
    return {"email": email, "name": str(form.get("name") or email.split("@")[0])}


@step("create-user-account", retries=2)
async def create_user_account(user: dict[str, Any]) -> dict[str, Any]:
    account_id = f"ACC-{user['email']}"
    ACCOUNTS.setdefault(account_id, {**user, "status": "active"})
    return {"accountId": account_id}


@step("send-welcome-email", retries=3)
async def send_welcome_email(user: dict[str, Any], account: dict[str, Any]) -> dict[str, Any]:
    OUTBOX.append({"to": user["email"], "template": "welcome", "account": account["accountId"]})
    return {"sent": True}


@workflow("user-signup")
async def user_signup(ctx: WorkflowContext, form: dict[str, Any]) -> dict[str, Any]:
    user = await validate_user_input(form)
    account = await create_user_account(user)
    await send_welcome_email(user, account)
    return {"accountId": account["accountId"], "status": "active"}
