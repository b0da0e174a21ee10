from bench.admin.run import main

main()
