"""Every benchmark, the load test and the closed-loop simulation, with their scratch data
(`earworm bench ...` and `earworm simulate`, bot/cli/). Nothing of the running bot imports
this package: changing it cannot change what members get."""
