"""The demo's plant: three pumps at the stages of bearing life a plant engineer meets.

Over the demo's first ten minutes (600 simulated minutes at speed-up 60, the rows the
shipped models were trained on; docs/simulator.md, "The demo's plant", has the timeline):

- pump 1 is healthy: a new bearing good for far longer than the demo runs; no alarm.
- pump 2 was fitted with a bad bearing: its defect shows in the high-frequency band
  after about 40 simulated minutes, which the anomaly model flags; left alone it trips
  after about three hours and stays tripped, as the repair is only on command (the
  Models page's button, `uvelka simulate --repair 2`, or writing its `maintenance_reset`
  coil). The repair fits a good bearing, and the anomaly clears some 30 minutes later
  (the model's 15-row window, then its hold of 20).
- pump 3 wears as a regular bearing does: its defect shows after three to four simulated
  hours (the anomaly model sees it long before the end, as the P-F curve has it) and
  its remaining life falls towards its RUL alarm, reached after about eleven.

None of them cavitates or is stopped by the demand schedule: the shipped anomaly model was
commissioned on a running pump without cavitation, so either would (rightly) be flagged
and muddle the story; the demand still moves the speed between 65 and 100 %.
"""

from __future__ import annotations

from drivers.plant.pump import Scenario

# Long enough that no defect shows within the demo (a regular 12 h bearing's shows at about
# 40 % of its life, which the anomaly model sees).
_GOOD_BEARING_H = 120.0

HEALTHY = Scenario(
    initial_wear=0.0, life_hours=_GOOD_BEARING_H, cavitation_every_h=None, stop_probability=0.0
)
BAD_BEARING = Scenario(
    initial_wear=0.2, first_life_hours=3.0, life_hours=_GOOD_BEARING_H, repair_after_h=None,
    cavitation_every_h=None, stop_probability=0.0,
)
WEARING = Scenario(initial_wear=0.1, life_hours=12.0, cavitation_every_h=None, stop_probability=0.0)

DEMO_SCENARIOS: tuple[Scenario, ...] = (HEALTHY, BAD_BEARING, WEARING)
"""Pump i of the demo runs DEMO_SCENARIOS[i]."""
