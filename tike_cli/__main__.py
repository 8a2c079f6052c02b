from tike.cli import main

raise SystemExit(main())
