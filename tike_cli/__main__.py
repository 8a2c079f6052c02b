from tike_cli.cli import main

raise SystemExit(main())
