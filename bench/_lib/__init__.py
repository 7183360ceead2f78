"""What the benchmarks share: throwaway databases and queues, processes they start, HTTP load, CPU accounting,
statistics and the printed targets. The scripts in bench/ put this folder's parent on ``sys.path``."""
