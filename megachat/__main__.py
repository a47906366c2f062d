from megachat.cli import main

raise SystemExit(main())
