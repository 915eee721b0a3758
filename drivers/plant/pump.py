"""A simulated centrifugal pump set: seeded, fixed-step physics with wear and cavitation.

Pure Python, no I/O and no clock: `PumpModel.step()` advances `DT_S` of simulated time, so
the readings after N steps are a function of the seed, N and the commands received (and
at which step). The plant simulator serves `PumpModel.reading` over Modbus.

The physics is deliberately simple but consistent, so that analytics trained on it learn
relations that hold on real pumps:
- Hydraulics: a quadratic pump curve against a friction-only system curve (a closed
  circulation loop), so the affinity laws hold: flow ~ speed, head ~ speed^2,
  power ~ speed^3.
- The drive's line current follows electrical input power at a fixed line voltage.
- Bearing temperature is a first-order lag (time constant `thermal_time_constant_s`)
  towards ambient plus load, speed and wear heating.
- Bearing wear consumes life in proportion to revolutions (faster when cavitating).
  It shows first in the high-frequency band (`vibration_hf`), then in vibration RMS,
  then in temperature, the order of the classic P-F curve; the RMS also becomes more
  erratic near the end of life.
- Cavitation episodes: the supply pressure sags, NPSH available falls below what the
  pump requires at its speed, head breaks down and flow, pressure and vibration fluctuate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from enum import IntEnum

DT_S = 0.1
"""Simulated seconds per step."""

_RHO_G = 1000.0 * 9.81  # water, N/m3
_ATMOSPHERE_BAR = 1.013
_VAPOUR_PRESSURE_BAR = 0.032  # water at 25 degC
_HOUR_S = 3600.0
_DAY_S = 86400.0
_MINUTE_S = 60.0
_NOISE_CORRELATION_S = 1.0  # an RMS is computed over about a second: its noise is not white
_SUPPLY_TIME_CONSTANT_S = 20.0
_SPEED_NOISE_RPM = 1.0
_INITIAL_WEAR_MAX = 0.6
_SETPOINT_STEP_RPM = 10


class FaultCode(IntEnum):
    """The drive's latched trip reason; cleared only by a repair."""

    NONE = 0
    VIBRATION_TRIP = 1
    BEARING_SEIZED = 2
    OVERTEMPERATURE_TRIP = 3


@dataclass(frozen=True, slots=True)
class PumpSpec:
    """Nameplate, installation and protection settings of one pump set."""

    rated_speed_rpm: float = 2950.0
    min_speed_rpm: int = 600
    max_speed_rpm: int = 3000
    ramp_rpm_per_s: float = 150.0
    coast_rpm_per_s: float = 500.0
    rated_flow_m3h: float = 100.0
    rated_head_m: float = 50.0
    shutoff_head_ratio: float = 1.25
    pump_efficiency: float = 0.76
    motor_efficiency: float = 0.93
    drive_efficiency: float = 0.97
    line_voltage_v: float = 400.0
    power_factor: float = 0.95
    idle_current_a: float = 0.4
    bearing_loss_kw: float = 0.25  # at rated speed, new bearings
    supply_pressure_bar: float = 1.8
    suction_loss_bar: float = 0.3  # at rated flow
    npsh_required_m: float = 6.0  # at rated speed and flow
    ambient_c: float = 25.0
    thermal_time_constant_s: float = 1200.0
    vibration_trip_mm_s: float = 11.2  # ISO 10816-3 zone D for a 15-300 kW machine
    vibration_trip_delay_s: float = 5.0
    vibration_alarm_mm_s: float = 7.1  # zone C
    temperature_trip_c: float = 95.0
    temperature_alarm_c: float = 80.0
    low_suction_bar: float = 0.5
    at_setpoint_band_rpm: float = 30.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """What happens to the pump: bearing life, demand changes, cavitation, repairs."""

    life_hours: float = 12.0
    """Bearing life in simulated hours at rated speed (each bearing varies around it)."""
    life_spread: float = 0.15
    """Lognormal sigma of one bearing's life around `life_hours`."""
    first_life_hours: float | None = None
    """The first bearing's life if it is not a regular one (a bad bearing); the bearings a
    repair fits last `life_hours`. None: `life_hours`."""
    initial_wear: float | None = None
    """Fraction of the first bearing's life already used; None draws it from the seed."""
    setpoint_rpm: int | None = None
    """Initial speed setpoint; None draws it (or rated speed without a demand schedule)."""
    demand_schedule: bool = True
    """Whether the plant's own demand changes the setpoint every few minutes."""
    demand_interval_min: tuple[float, float] = (3.0, 10.0)
    demand_range: tuple[float, float] = (0.65, 1.0)
    """Setpoints the demand picks, as fractions of rated speed."""
    stop_probability: float = 0.08
    """Chance that a demand change stops the pump for the interval."""
    cavitation_every_h: float | None = 3.0
    """Mean simulated hours between cavitation episodes; None: never."""
    cavitation_minutes: tuple[float, float] = (2.0, 8.0)
    cavitation_supply_bar: tuple[float, float] = (-0.65, -0.35)
    """How far the supply pressure sags during an episode (gauge)."""
    repair_after_h: float | None = 1.0
    """A tripped pump is repaired (new bearing) after this downtime; None: only on command."""
    ambient_swing_c: float = 3.0
    """Half the day/night swing of the ambient temperature."""


@dataclass(frozen=True, slots=True)
class PumpReading:
    """What the pump's instruments and drive report after a step, in engineering units."""

    vibration_rms: float  # mm/s, 10-1000 Hz velocity RMS
    vibration_hf: float  # m/s2, high-frequency band acceleration
    motor_current: float  # A, drive input line current
    flow: float  # m3/h
    bearing_temperature: float  # degC
    speed: int  # rpm
    at_setpoint: bool
    low_suction_pressure: bool
    high_vibration: bool
    high_bearing_temperature: bool
    fault_code: int
    run_hours: float  # h, counted in tenths
    energy: float  # kWh, counted in Wh
    discharge_pressure: float  # bar gauge
    suction_pressure: float  # bar gauge
    speed_setpoint: int  # rpm
    maintenance_reset: bool  # a repair command waiting for the next step
    demand_schedule: bool
    running: bool
    tripped: bool


def wear_severity(wear: float) -> float:
    """0 for a new bearing, 1 at end of life; flat for most of the life, then steep."""
    return (math.exp(5.0 * wear) - 1.0) / (math.exp(5.0) - 1.0)


def defect_onset(wear: float) -> float:
    """High-frequency defect signature: a logistic step around 70 % of life, before the RMS."""
    return 1.0 / (1.0 + math.exp(-(wear - 0.7) / 0.07))


class PumpModel:
    """One pump set stepped in fixed `DT_S` steps; seeded, so runs are reproducible."""

    reading: PumpReading

    def __init__(
        self,
        seed: int,
        index: int = 0,
        scenario: Scenario | None = None,
        spec: PumpSpec | None = None,
    ) -> None:
        self.scenario = scenario or Scenario()
        self.spec = spec or PumpSpec()
        # Two streams, so that changing what happens (events) keeps the same sensor noise.
        # Reproducible pseudo-randomness is the point here, not secrecy.
        self._noise = random.Random(f"pump:{seed}:{index}:noise")  # noqa: S311
        self._events = random.Random(f"pump:{seed}:{index}:events")  # noqa: S311
        self._precompute()
        self.step_count = 0
        self._wear = self._draw_initial_wear()
        self._life_s = self._draw_life_s(self.scenario.first_life_hours)
        self._fault = FaultCode.NONE
        self._tripped_at_s = 0.0
        self._over_vibration_s = 0.0
        self._repair_pending = False
        self._schedule_on = self.scenario.demand_schedule
        self._setpoint = self._initial_setpoint()
        self._next_demand_s = self._draw_demand_interval_s()
        self._speed = float(self._setpoint)
        self._supply_target_bar = self.spec.supply_pressure_bar
        self._supply_bar = self._supply_target_bar
        self._cavitation_until_s = -1.0
        self._next_cavitation_s = self._draw_cavitation_gap_s(0.0)
        self._cavitation = 0.0
        ratio = self._speed / self.spec.rated_speed_rpm
        self._flow = ratio * self.spec.rated_flow_m3h
        # Start warm, in thermal equilibrium, as a pump that has been running for a while.
        self._temperature = self._equilibrium_temperature(
            0.0, ratio, self._rated_shaft_kw * ratio**3
        )
        self._vibration_noise = 0.0
        self._hf_noise = 0.0
        self._run_hours = self._events.uniform(2000.0, 30000.0)
        self._energy_kwh = self._run_hours * self._events.uniform(12.0, 16.0)
        # The first step happens here so that `reading` is always a measurement.
        self.step()

    # -- commands (from the Modbus side) -------------------------------------------------

    def command_setpoint(self, rpm: int) -> None:
        """Set the speed setpoint (0 stops); the demand schedule yields to it until resumed."""
        spec = self.spec
        if rpm != 0 and not spec.min_speed_rpm <= rpm <= spec.max_speed_rpm:
            raise ValueError(
                f"speed setpoint {rpm} rpm: must be 0 or {spec.min_speed_rpm}..{spec.max_speed_rpm}"
            )
        self._setpoint = rpm
        self._schedule_on = False
        self._echo_commands()

    def command_schedule(self, on: bool) -> None:
        """Hand the setpoint back to the plant's demand schedule (or take it away)."""
        if on and not self._schedule_on:
            self._next_demand_s = self.time_s + self._draw_demand_interval_s()
        self._schedule_on = on
        self._echo_commands()

    def command_repair(self) -> None:
        """Replace the bearing and clear any trip at the next step."""
        self._repair_pending = True
        self._echo_commands()

    def _echo_commands(self) -> None:
        # A device echoes a written setpoint at once, not at its next measurement.
        self.reading = replace(
            self.reading,
            speed_setpoint=self._setpoint,
            demand_schedule=self._schedule_on,
            maintenance_reset=self._repair_pending,
        )

    # -- ground truth, for tests and for evaluating analytics ----------------------------

    @property
    def time_s(self) -> float:
        return self.step_count * DT_S

    @property
    def wear(self) -> float:
        """Fraction of the current bearing's life used (1 = end of life)."""
        return self._wear

    @property
    def cavitation(self) -> float:
        """Cavitation severity, 0 (none) to 1 (fully developed)."""
        return self._cavitation

    @property
    def remaining_life_h(self) -> float:
        """Simulated hours left on the current bearing if run at rated speed."""
        return (1.0 - self._wear) * self._life_s / _HOUR_S

    @property
    def fault(self) -> FaultCode:
        return self._fault

    # -- stepping ------------------------------------------------------------------------

    def advance(self, steps: int) -> None:
        """Run `steps` steps."""
        for _ in range(steps):
            self.step()

    def step(self) -> None:
        """Advance the model by DT_S and refresh `reading`."""
        t = self.time_s
        if self._repair_pending:
            self._repair()
        self._run_events(t)
        self._move_speed()
        spec = self.spec
        ratio = self._speed / spec.rated_speed_rpm

        self._supply_bar += (self._supply_target_bar - self._supply_bar) * self._supply_alpha
        suction = self._supply_bar - spec.suction_loss_bar * (self._flow / spec.rated_flow_m3h) ** 2
        self._cavitation = cavitation = self._cavitation_severity(suction, ratio)

        flow, head = self._operating_point(ratio, cavitation)
        self._flow = flow

        severity = wear_severity(self._wear)
        hydraulic_kw = _RHO_G * (flow / _HOUR_S) * head / 1000.0
        efficiency = spec.pump_efficiency * (1.0 - 0.2 * cavitation)
        shaft_kw = hydraulic_kw / efficiency + spec.bearing_loss_kw * ratio * (1.0 + 4.0 * severity)
        input_kw = shaft_kw / (spec.motor_efficiency * spec.drive_efficiency)

        equilibrium = self._equilibrium_temperature(t, ratio, shaft_kw)
        self._temperature += (equilibrium - self._temperature) * self._thermal_alpha

        turning = self._speed > 0.0
        if turning:
            self._wear += DT_S * ratio * (1.0 + 3.0 * cavitation) / self._life_s
            self._run_hours += DT_S / _HOUR_S
            self._energy_kwh += input_kw * DT_S / _HOUR_S

        # At rest the sensors still pick up the plant through the floor.
        vibration = 0.05 + 2.5 * cavitation
        hf = 0.05 + 12.0 * cavitation
        if turning:
            # Residual unbalance grows with speed^2; defect impacts partly with speed.
            vibration += 0.1 + 1.1 * ratio**2 + 9.5 * severity * (0.4 + 0.6 * ratio)
            hf += 0.6 * ratio**2 + 30.0 * defect_onset(self._wear) * ratio
        self._measure_and_protect(suction, head, input_kw, vibration, hf)
        self.step_count += 1

    # -- internals -----------------------------------------------------------------------

    def _precompute(self) -> None:
        spec = self.spec
        rated_flow_m3s = spec.rated_flow_m3h / _HOUR_S
        self._rated_shaft_kw = (
            _RHO_G * rated_flow_m3s * spec.rated_head_m / 1000.0 / spec.pump_efficiency
            + spec.bearing_loss_kw
        )
        self._thermal_alpha = 1.0 - math.exp(-DT_S / spec.thermal_time_constant_s)
        self._supply_alpha = 1.0 - math.exp(-DT_S / _SUPPLY_TIME_CONSTANT_S)
        self._noise_phi = math.exp(-DT_S / _NOISE_CORRELATION_S)
        self._noise_innovation = math.sqrt(1.0 - self._noise_phi**2)
        self._trip_ramp = spec.coast_rpm_per_s * DT_S
        self._ramp = spec.ramp_rpm_per_s * DT_S
        self._line_kva_per_a = math.sqrt(3.0) * spec.line_voltage_v * spec.power_factor / 1000.0

    def _draw_initial_wear(self) -> float:
        if self.scenario.initial_wear is not None:
            return self.scenario.initial_wear
        return self._events.uniform(0.0, _INITIAL_WEAR_MAX)

    def _draw_life_s(self, life_hours: float | None = None) -> float:
        scenario = self.scenario
        factor = self._events.lognormvariate(0.0, scenario.life_spread)
        return (life_hours or scenario.life_hours) * _HOUR_S * factor

    def _initial_setpoint(self) -> int:
        if self.scenario.setpoint_rpm is not None:
            return self.scenario.setpoint_rpm
        if self.scenario.demand_schedule:
            return self._draw_demand_setpoint(allow_stop=False)
        return round(self.spec.rated_speed_rpm)

    def _draw_demand_setpoint(self, allow_stop: bool) -> int:
        if allow_stop and self._events.random() < self.scenario.stop_probability:
            return 0
        low, high = self.scenario.demand_range
        rpm = self._events.uniform(low, high) * self.spec.rated_speed_rpm
        return round(rpm / _SETPOINT_STEP_RPM) * _SETPOINT_STEP_RPM

    def _draw_demand_interval_s(self) -> float:
        low, high = self.scenario.demand_interval_min
        return self._events.uniform(low, high) * _MINUTE_S

    def _draw_cavitation_gap_s(self, now_s: float) -> float:
        every_h = self.scenario.cavitation_every_h
        if every_h is None:
            return math.inf
        return now_s + self._events.expovariate(1.0 / (every_h * _HOUR_S))

    def _repair(self) -> None:
        self._repair_pending = False
        self._wear = 0.0
        self._life_s = self._draw_life_s()
        self._fault = FaultCode.NONE
        self._over_vibration_s = 0.0

    def _trip(self, fault: FaultCode, t: float) -> None:
        self._fault = fault
        self._tripped_at_s = t

    def _run_events(self, t: float) -> None:
        scenario = self.scenario
        if self._schedule_on and t >= self._next_demand_s:
            self._setpoint = self._draw_demand_setpoint(allow_stop=True)
            self._next_demand_s = t + self._draw_demand_interval_s()
        if t >= self._next_cavitation_s:
            low, high = scenario.cavitation_minutes
            self._cavitation_until_s = t + self._events.uniform(low, high) * _MINUTE_S
            self._supply_target_bar = self._events.uniform(*scenario.cavitation_supply_bar)
            self._next_cavitation_s = math.inf
        elif self._cavitation_until_s >= 0.0 and t >= self._cavitation_until_s:
            self._cavitation_until_s = -1.0
            self._supply_target_bar = self.spec.supply_pressure_bar
            self._next_cavitation_s = self._draw_cavitation_gap_s(t)
        repair_after_h = scenario.repair_after_h
        if (
            self._fault is not FaultCode.NONE
            and repair_after_h is not None
            and t >= self._tripped_at_s + repair_after_h * _HOUR_S
        ):
            self._repair()

    def _move_speed(self) -> None:
        tripped = self._fault is not FaultCode.NONE
        target = 0.0 if tripped else float(self._setpoint)
        ramp = self._trip_ramp if tripped else self._ramp
        delta = target - self._speed
        self._speed += max(-ramp, min(ramp, delta))

    def _operating_point(self, ratio: float, cavitation: float) -> tuple[float, float]:
        """Flow (m3/h) and head (m) where the pump curve meets the system curve."""
        spec = self.spec
        # Pump curve H = c * (a*r^2 - b*Q^2), with a the shut-off head, b putting the rated
        # point on it and c < 1 as head breaks down in cavitation; system curve H = k*Q^2
        # with k = H0/Q0^2. With a and b in units of H0 and k, they meet at
        # Q = r * Q0 * sqrt(c*a / (c*b + 1)).
        shutoff = spec.shutoff_head_ratio
        droop = shutoff - 1.0
        head_factor = 1.0 - 0.3 * cavitation
        flow = (
            ratio
            * spec.rated_flow_m3h
            * math.sqrt(head_factor * shutoff / (head_factor * droop + 1.0))
        )
        if cavitation:
            flow = max(0.0, flow * (1.0 + 0.06 * cavitation * self._noise.gauss(0.0, 1.0)))
        head = spec.rated_head_m * (flow / spec.rated_flow_m3h) ** 2
        if cavitation:
            head *= 1.0 + 0.05 * cavitation * self._noise.gauss(0.0, 1.0)
        return flow, head

    def _cavitation_severity(self, suction_bar: float, ratio: float) -> float:
        if ratio < 0.05:
            return 0.0
        npsh_available = (suction_bar + _ATMOSPHERE_BAR - _VAPOUR_PRESSURE_BAR) * 1e5 / _RHO_G
        npsh_required = self.spec.npsh_required_m * ratio**2
        # Incipient cavitation starts with some margin above NPSHr (which is the 3 % head
        # drop point), and is fully developed a little below it.
        severity = (1.3 * npsh_required - npsh_available) / (0.6 * npsh_required)
        return min(1.0, max(0.0, severity))

    def _equilibrium_temperature(self, t: float, ratio: float, shaft_kw: float) -> float:
        spec = self.spec
        ambient = spec.ambient_c + self.scenario.ambient_swing_c * math.sin(
            2.0 * math.pi * t / _DAY_S
        )
        load = shaft_kw / self._rated_shaft_kw
        return ambient + 10.0 * ratio + 20.0 * load + 35.0 * wear_severity(self._wear) * ratio

    def _measure_and_protect(
        self, suction: float, head: float, input_kw: float, vibration: float, hf: float
    ) -> None:
        gauss = self._noise.gauss
        phi, innovation = self._noise_phi, self._noise_innovation
        self._vibration_noise = phi * self._vibration_noise + innovation * gauss(0.0, 1.0)
        self._hf_noise = phi * self._hf_noise + innovation * gauss(0.0, 1.0)
        # Impacts from a failing bearing make the RMS erratic near the end of life.
        spread = 0.03 + 0.12 * wear_severity(self._wear)
        vibration_rms = vibration * (1.0 + spread * self._vibration_noise)
        vibration_rms += 0.6 * self._cavitation * abs(gauss(0.0, 1.0))
        vibration_hf = hf * (1.0 + 0.06 * self._hf_noise)
        self.reading = self._measure(
            max(vibration_rms, 0.0),
            max(vibration_hf, 0.0),
            suction + (0.01 + 0.05 * self._cavitation) * gauss(0.0, 1.0),
            suction + _RHO_G * head / 1e5 + 0.02 * gauss(0.0, 1.0),
            input_kw,
        )
        self._protect()

    def _measure(
        self,
        vibration_rms: float,
        vibration_hf: float,
        suction_bar: float,
        discharge_bar: float,
        input_kw: float,
    ) -> PumpReading:
        spec = self.spec
        gauss = self._noise.gauss
        speed = round(max(0.0, self._speed + _SPEED_NOISE_RPM * gauss(0.0, 1.0)))
        if self._speed <= 0.0:
            speed = 0
        current = (input_kw / self._line_kva_per_a) * (1.0 + 0.005 * gauss(0.0, 1.0))
        temperature = self._temperature + 0.05 * gauss(0.0, 1.0)
        flow = max(0.0, self._flow * (1.0 + 0.005 * gauss(0.0, 1.0)))
        tripped = self._fault is not FaultCode.NONE
        running = not tripped and self._setpoint > 0
        return PumpReading(
            vibration_rms=vibration_rms,
            vibration_hf=vibration_hf,
            motor_current=spec.idle_current_a + max(current, 0.0),
            flow=flow,
            bearing_temperature=temperature,
            speed=speed,
            at_setpoint=running and abs(self._speed - self._setpoint) <= spec.at_setpoint_band_rpm,
            low_suction_pressure=suction_bar < spec.low_suction_bar,
            high_vibration=vibration_rms >= spec.vibration_alarm_mm_s,
            high_bearing_temperature=temperature >= spec.temperature_alarm_c,
            fault_code=int(self._fault),
            run_hours=math.floor(self._run_hours * 10.0) / 10.0,
            energy=math.floor(self._energy_kwh * 1000.0) / 1000.0,
            discharge_pressure=max(discharge_bar, 0.0),
            suction_pressure=suction_bar,
            speed_setpoint=self._setpoint,
            maintenance_reset=self._repair_pending,
            demand_schedule=self._schedule_on,
            running=running,
            tripped=tripped,
        )

    def _protect(self) -> None:
        if self._fault is not FaultCode.NONE:
            return
        t = self.time_s
        spec = self.spec
        reading = self.reading
        if self._wear >= 1.0:
            self._trip(FaultCode.BEARING_SEIZED, t)
        elif reading.bearing_temperature > spec.temperature_trip_c:
            self._trip(FaultCode.OVERTEMPERATURE_TRIP, t)
        elif reading.vibration_rms > spec.vibration_trip_mm_s:
            self._over_vibration_s += DT_S
            if self._over_vibration_s >= spec.vibration_trip_delay_s:
                self._trip(FaultCode.VIBRATION_TRIP, t)
        else:
            self._over_vibration_s = 0.0
