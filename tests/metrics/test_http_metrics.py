"""HTTP request metrics: every request is timed under its route template, method and status."""

from __future__ import annotations

import uuid

from tests.factories import signed_in_user
from tests.metrics.scrape import scrape

DURATION = "parley_http_request_duration_seconds_count"
TEMPLATE = "/api/v1/conversations/{conversation_id}"


class TestRouteTemplates:
    async def test_a_request_is_counted_under_its_template_never_its_raw_path(self, client, app):
        me = await signed_in_user(app, client)
        before = await scrape(client)
        missing = uuid.uuid4()
        for _ in range(3):
            response = await client.get(f"/api/v1/conversations/{missing}", headers=me.headers)
            assert response.status_code == 404

        after = await scrape(client)
        labels = {"route": TEMPLATE, "method": "GET", "status": "404"}
        assert after.value(DURATION, **labels) - before.value(DURATION, **labels) == 3
        assert str(missing) not in after.text
        # A path no API route matched: one label value whatever the path was.
        before_unknown = after.value(DURATION, route="other", method="GET", status="404")
        assert (await client.get(f"/api/v1/no-such-thing/{missing}")).status_code == 404
        scraped = await scrape(client)
        assert scraped.value(DURATION, route="other", method="GET", status="404") == before_unknown + 1
        assert not any(str(missing) in route for route in scraped.label_values(DURATION, "route"))
