"""The call engine: call manager, call context, journal, CDRs, recording, devices, supervision, flows in the box."""
