"""CLI subcommands, one module each (registered in :data:`pyro_causal_eq.cli.SUBCOMMANDS`)."""
