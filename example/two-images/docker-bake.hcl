# Two images from one Dockerfile, sharing its base stage. REGISTRY is where they are tagged;
# regcache gives each target its own cache tags there.
variable "REGISTRY" {
  default = "127.0.0.1:5055/regcache-example"
}

group "default" {
  targets = ["api", "worker"]
}

target "_common" {
  context = "."
  dockerfile = "Dockerfile"
  network = "none"
}

target "api" {
  inherits = ["_common"]
  target = "api"
  tags = ["${REGISTRY}/api:dev"]
}

target "worker" {
  inherits = ["_common"]
  target = "worker"
  tags = ["${REGISTRY}/worker:dev"]
}
