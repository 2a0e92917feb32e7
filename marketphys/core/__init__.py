"""The physics core: grid, frames, fields, producers, walls, integrator, learner, ledger, engine."""
