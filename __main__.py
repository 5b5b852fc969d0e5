"""trainstack: read and validate stack config, build the Platform, export what users need."""

import pulumi

from components import config
from components.platform import Platform

platform = Platform("trainstack", config.load())
for key, value in platform.outputs.items():
    pulumi.export(key, value)
