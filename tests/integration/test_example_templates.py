"""The example journeys' copy ships with them: the demo saves it before publishing, so a worker started after
the demo renders real messages instead of dead-lettering them for a missing template."""

from __future__ import annotations

from pathlib import Path

from touchflow.bootstrap import Application
from touchflow.demo.journeys import save_example_templates
from touchflow.services.content import list_templates
from touchflow.services.journeys import publish_journey

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"


def test_every_example_journey_publishes_strictly_with_the_shipped_templates(app: Application) -> None:
    saved = save_example_templates(app.services)
    templates = list_templates(app.services)
    assert sorted(saved) == sorted(t.name for t in templates) and len(saved) >= 12
    assert [(t.name, t.status, t.findings) for t in templates if t.status != "approved" or t.findings] == []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if not path.name.endswith(".scenario.yaml"):
            result = publish_journey(app.services, path.read_text(encoding="utf-8"), actor="test",
                                     templates_required=True)
            assert [f for f in result.findings if "template" in f.code] == [], path.name
    assert save_example_templates(app.services) == []  # a second demo run saves nothing new
