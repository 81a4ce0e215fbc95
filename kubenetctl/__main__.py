from kubenetctl.cli.main import run

run()
