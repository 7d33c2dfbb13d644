"""The plan file: the built-in plans without one, plans added or redefined by it, and a start-up refused in one
line naming the key when it is wrong; the file seeds the database, and admins' edits win afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.db import StartupError
from parley.models import Plan as PlanRow
from parley.policy.plans import BUILT_IN_PLANS, Plan, load_plan_file
from tests.conftest import running_app
from tests.factories import signed_in_user

PLANS = "/api/v1/admin/plans"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plans.yaml"
    path.write_text(text)
    return path


class TestBuiltInPlans:
    def test_without_a_file_free_pro_and_enterprise_with_a_finite_free_plan(self):
        plans = load_plan_file(None)
        assert set(plans) == {"free", "pro", "enterprise"}
        free = plans["free"]
        assert free.requests_per_minute == 20 and free.tokens_per_day == 200_000
        assert [plans[name].max_upload_mib for name in ("free", "pro", "enterprise")] == [10, 50, 200]


class TestPlanFile:
    def test_the_file_adds_plans_and_redefines_built_in_ones(self, tmp_path):
        path = _write(
            tmp_path,
            "plans:\n"
            "  team:\n"
            "    requests_per_minute: 100\n"
            "    models: [echo, cheap]\n"
            "    usd_budget_per_month: 12.5\n"
            "  pro:\n"
            "    max_upload_mib: 75\n",
        )
        plans = load_plan_file(path)
        assert plans["team"] == Plan(requests_per_minute=100, models=["echo", "cheap"], usd_budget_per_month=12.5)
        # A plan the file names is the file's: limits it leaves out are unlimited.
        assert plans["pro"] == Plan(max_upload_mib=75)
        assert plans["free"] == BUILT_IN_PLANS["free"]

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("plans:\n  team:\n    requests_per_minit: 5\n", "plans.team.requests_per_minit"),
            ("plans:\n  team:\n    tokens_per_day: -1\n", "plans.team.tokens_per_day"),
            ("plans:\n  pro:\n    usd_budget_per_month: -0.5\n", "plans.pro.usd_budget_per_month"),
            ("plans:\n  pro:\n    models: echo\n", "plans.pro.models"),
            ("plans:\n  Big Plan:\n    tokens_per_day: 5\n", "plans.Big Plan"),
            ("plans: [free]\n", "top-level 'plans:'"),
            ("plan:\n  free: {}\n", "top-level 'plans:'"),
            ("plans:\n  pro: {max_upload_mib: 5\n", "not valid YAML at line"),
        ],
        ids=[
            "unknown key",
            "negative tokens",
            "negative budget",
            "models not a list",
            "bad name",
            "list",
            "typo",
            "bad yaml",
        ],
    )
    def test_a_wrong_file_is_one_line_naming_the_key(self, tmp_path, text, says):
        path = _write(tmp_path, text)
        with pytest.raises(StartupError) as raised:
            load_plan_file(path)
        message = str(raised.value)
        assert says in message and str(path) in message
        assert "\n" not in message

    def test_a_missing_file_is_named(self, tmp_path):
        with pytest.raises(StartupError, match=r"cannot read the plan file .*PARLEY_PLANS"):
            load_plan_file(tmp_path / "absent.yaml")

    def test_parley_serve_stops_before_starting_anything_with_one_line(self, tmp_path):
        path = _write(tmp_path, "plans:\n  team:\n    tokens_per_month: -5\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
        env["PARLEY_PLANS"] = str(path)
        result = subprocess.run(
            [sys.executable, "-m", "parley", "serve", "--data-dir", str(tmp_path / "data")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("parley: error: ") and "plans.team.tokens_per_month" in lines[0]
        # Refused before the embedded database was started.
        assert not (tmp_path / "data" / "postgres").exists()


class TestSeeding:
    async def test_the_file_seeds_missing_plans_and_admins_edits_win_afterwards(
        self, app, client, session, settings, tmp_path
    ):
        path = _write(tmp_path, "plans:\n  team:\n    requests_per_minute: 100\n  pro:\n    max_upload_mib: 75\n")
        seeded_settings = settings.model_copy(update={"plans_file": path})
        async with running_app(seeded_settings):
            pass
        rows = {row.name: row.limits for row in await session.scalars(select(PlanRow))}
        assert set(rows) == {"free", "pro", "enterprise", "team"}
        assert Plan.model_validate(rows["team"]) == Plan(requests_per_minute=100)
        assert Plan.model_validate(rows["pro"]) == Plan(max_upload_mib=75)
        await session.commit()

        admin = await signed_in_user(app, client, role=Role.ADMIN)
        edited = await client.put(f"{PLANS}/team", json={"requests_per_minute": 7}, headers=admin.headers)
        assert edited.status_code == 200, edited.text

        # The next start leaves the admin's edit alone.
        async with running_app(seeded_settings) as restarted, restarted.state.database.session() as fresh:
            team = await fresh.scalar(select(PlanRow).where(PlanRow.name == "team"))
        assert team is not None and Plan.model_validate(team.limits) == Plan(requests_per_minute=7)
