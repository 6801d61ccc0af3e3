# The schema registry. Schemas are created and evolved by the producer Lambda (it infers them from
# the events), so Terraform owns only the registry.

resource "aws_glue_registry" "this" {
  registry_name = var.settings.registry_name
  description   = "Avro schemas of the ${var.settings.topic} topic (${local.name})"

  tags = local.tags
}
