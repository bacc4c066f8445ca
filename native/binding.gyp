{
  "targets": [
    {
      "target_name": "zkinfer_groth16",
      "sources": ["groth16.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "cflags!": ["-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
