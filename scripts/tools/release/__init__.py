"""Release helpers: build the image, write an image into a Kubernetes overlay."""
