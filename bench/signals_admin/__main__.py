from bench.signals_admin.run import main

main()
