module rcumap/bench/syncmap

go 1.19
