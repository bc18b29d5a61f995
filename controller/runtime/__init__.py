"""Where test cases execute: in this process / a local process pool, or as SimulationJobs in a cluster."""
