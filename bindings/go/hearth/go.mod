module hearth

go 1.19
