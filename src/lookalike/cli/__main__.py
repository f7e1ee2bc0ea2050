from lookalike.cli._main import main

raise SystemExit(main())
