//! Memory planner: arena offsets for every activation.
