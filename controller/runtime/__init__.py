"""Where test cases execute: in this process / a local process pool (the simulation runtime comes later)."""
