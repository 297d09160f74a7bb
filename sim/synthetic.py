"""Synthetic venues for load tests and benchmarks (no TOML needed)."""

from __future__ import annotations

from eventguard.config import Connection, EventInfo, Gate, Venue, Zone


def stadium(*, gates: int = 40, lanes: int = 3, concourses: int = 8, seats: int = 60_000,
            concourse_area_m2: float = 2_500.0, vomitory_width_m: float = 6.0) -> Venue:
    """A ring stadium: `concourses` concourse zones, each fed by an equal share of the gates
    and linked by two vomitories to its own stand; neighbouring concourses are linked too."""
    if gates < concourses or concourses < 1:
        raise ValueError("need at least one gate per concourse")
    zones: list[Zone] = []
    conns: list[Connection] = []
    per_stand = seats // concourses
    for c in range(concourses):
        zones.append(Zone(id=f"C{c + 1}", name=f"Concourse {c + 1}",
                          area_m2=concourse_area_m2, capacity=int(concourse_area_m2 * 2)))
        zones.append(Zone(id=f"S{c + 1}", name=f"Stand {c + 1}",
                          area_m2=per_stand * 0.5, capacity=per_stand))
        conns.append(Connection(a=f"C{c + 1}", b=f"S{c + 1}", width_m=2 * vomitory_width_m,
                                length_m=15.0))
        if concourses > 1:
            conns.append(Connection(a=f"C{c + 1}", b=f"C{(c + 1) % concourses + 1}",
                                    width_m=8.0, length_m=60.0))
    gate_list = [Gate(id=f"G{g + 1:02d}", name=f"Gate {g + 1}", zone=f"C{g % concourses + 1}",
                      lanes=lanes) for g in range(gates)]
    return Venue(event=EventInfo(id="synthetic", name="Synthetic stadium"), zones=tuple(zones),
                 gates=tuple(gate_list), connections=tuple(conns))
