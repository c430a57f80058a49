#!/usr/bin/env bats
# -o never destroys what it should not (docs/security.md, "Output paths"):
# devices, FIFOs, folders and symbolic links are refused, and so is an
# output that is one of the command's inputs (by device and inode, so a
# hard link or ./name is caught too). Each refusal leaves the path as it was.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    mb fit "$DATA/iris.h5" -m knn -o m.h5 >/dev/null
}

@test "-o: a character device is refused and stays a device" {
    run mb predict m.h5 "$DATA/iris.h5" -o /dev/full
    assert_failure 1
    assert_output "moonbench: refusing to write /dev/full: it is a character device; moonbench writes only new files or replaces regular ones"
    [ -c /dev/full ]
    run ls /dev/full.tmp-*
    assert_failure
}

@test "-o: a FIFO, a folder and a symbolic link are refused, unchanged" {
    mkfifo fifo
    mkdir dir
    echo keep > target
    ln -s target link
    run mb predict m.h5 "$DATA/iris.h5" -o fifo
    assert_failure 1
    assert_output --partial "refusing to write fifo: it is a FIFO (named pipe)"
    [ -p fifo ]
    run mb fit "$DATA/iris.h5" -m knn -o dir
    assert_failure 1
    assert_output --partial "refusing to write dir: it is a folder"
    run mb import "$DATA/csv/iris.csv" -o link
    assert_failure 1
    assert_output --partial "refusing to write link: it is a symbolic link"
    [ -L link ]
    [ "$(cat target)" = keep ]
    # nothing was left behind
    [ "$(ls | sort | tr '\n' ' ')" = "dir fifo link m.h5 target " ]
}

@test "-o: an output that is an input is refused: predict, fit, import, hard link" {
    cp "$DATA/csv/iris.csv" in.csv
    ln in.csv hard.csv
    sum=$(sha256sum in.csv m.h5)
    run mb predict m.h5 "$DATA/iris.h5" -o m.h5
    assert_failure 1
    assert_output "moonbench: refusing to write m.h5: it is the input m.h5 (writing it would destroy what is read); choose another output name"
    run mb predict m.h5 in.csv -o ./in.csv
    assert_failure 1
    assert_output --partial "refusing to write ./in.csv: it is the input in.csv"
    run mb import in.csv -o hard.csv
    assert_failure 1
    assert_output --partial "refusing to write hard.csv: it is the input in.csv"
    run mb fit in.csv -m knn --valid "$DATA/csv/iris.csv" -o in.csv
    assert_failure 1
    assert_output --partial "it is the input in.csv"
    [ "$(sha256sum in.csv m.h5)" = "$sum" ]
}

@test "-o: a regular file is replaced atomically, a new name is created" {
    echo old > p.csv
    run mb predict m.h5 "$DATA/iris.h5" -o p.csv
    assert_success
    [ "$(wc -l < p.csv)" -eq 151 ]
    run mb predict m.h5 "$DATA/iris.h5" -o new.csv
    assert_success
    cmp p.csv new.csv
}
