"""CNI from both sides: spec types (spec.py), the plugin (plugin.py and the network types
it implements), and the runtime driver (runtime.py) behind `kubenetctl cni`."""
