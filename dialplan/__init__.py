"""Call flows: the YAML flow loader, validator, apps and interpreter."""
