"""A callback: count the training images the model saw and write the count to a JSON file when training ends.

Nothing in the package changes: put this file on ``PYTHONPATH`` and train with
``python train.py --callbacks 'my_callback:ImagesSeen:{"out": "seen.json"}'`` (the JSON object holds the keyword
arguments; several callbacks are allowed). The class must be a Lightning ``Callback``; it runs after the ones
litcls adds.
"""

import json

import lightning as L


class ImagesSeen(L.Callback):
    def __init__(self, out: str):
        self.out, self.images = out, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.images += len(batch[0])

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            with open(self.out, "w", encoding="utf-8") as out:
                json.dump({"images": self.images, "epochs": trainer.current_epoch}, out)
