"""The run-time half: a controller that moves along the exported Pareto front as requests outpace
the device (policies.py), seeded workloads (workloads.py), one request loop (controller.py) driven
by a discrete-event simulator (simulator.py) or by real IREE inferences (live.py), and energy
(energy.py)."""
