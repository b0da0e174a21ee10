from bench.context.run import main

main()
