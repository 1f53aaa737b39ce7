"""Model families, one file each: ``mlp``, ``cnn``, ``resnet``, ``vit``, ``pretrained``."""
