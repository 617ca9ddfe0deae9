"""What a user holds, read into a `HeldImage`: a `docker save` file (every layout), an OCI image
layout (a directory or a tar), `docker inspect` output, or a registry reference. Pure code: no
store, no network; `scrapy detect` compares what these give with the layer index."""
