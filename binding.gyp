{
  "targets": [
    {
      "target_name": "forkwatch",
      "sources": ["native/addon.cc", "native/proc_socket.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # C++ exceptions let node-addon-api turn a failed syscall into a JS Error. Warnings
      # are errors: the addon is small enough to keep free of them.
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": [
        # Node-API 8 is in every Node.js >= 12.22; pinning it means one build runs on all
        # the Node.js versions forkwatch supports.
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
