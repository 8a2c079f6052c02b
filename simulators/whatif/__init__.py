"""What-if replay: a recorded day through the real situation machine, rules and team selection,
twice (a baseline and a variant), on a simulated clock, with the teams' answers from the seeded
responder model. Pure: no Kafka, no HTTP (the CLI and the gateway are thin adapters).

- :mod:`simulators.whatif.roster`: the roster file format (teams, skills, shifts, coverage,
  capacity, offer time-outs), validated with located errors;
- :mod:`simulators.whatif.inputs`: a recording (or a simulated day) as the machine's inputs;
- :mod:`simulators.whatif.replay`: the driver;
- :mod:`simulators.whatif.report`: KPIs side by side, differences traced to needs, JSON and HTML.
"""
