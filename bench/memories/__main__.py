from bench.memories.run import main

main()
