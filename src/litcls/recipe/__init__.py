"""The training recipe: optimizer and schedule, loss, batch mixing. Each module declares its names beside the
code that builds from them and imports torch only inside its builders, so the configuration can gather the names
without making ``train.py --help`` slow."""
