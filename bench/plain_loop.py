"""The floor for benchmark 1: a hand-written PyTorch training loop with no framework.

Same folder, split, dataset class, model, batch size, workers, optimizer and schedule as ``train.py
--augment none``; each epoch trains, then evaluates the validation split (loss and accuracy), as Lightning does.
Prints one JSON line: {"epochs": E, "seconds": S} for the loop alone (start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from litcls.data.builtin import resolve_data
from litcls.data.dataset import ImageDataset
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="digits")
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    scan = scan_folder(resolve_data(args.data))
    samples = split_samples(scan, 0.15, 0.15, args.seed)
    transform = eval_transform(Preprocessing(args.img_size))  # no augmentation, like --augment none

    def loader(split: str, shuffle: bool) -> DataLoader:
        rows = samples[samples["split"] == split]
        dataset = ImageDataset(scan.root, rows["path"].tolist(), rows["label"].tolist(), transform)
        return DataLoader(dataset, batch_size=args.batch_size, shuffle=shuffle, num_workers=args.num_workers,
                          drop_last=shuffle, persistent_workers=args.num_workers > 0)

    train_loader, val_loader = loader("train", True), loader("val", False)
    model = build_model(args.model, len(scan.classes), args.img_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    criterion = nn.CrossEntropyLoss()

    started = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        for images, labels in train_loader:
            loss = criterion(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        total_loss, correct, seen = 0.0, 0, 0
        with torch.no_grad():
            for images, labels in val_loader:
                logits = model(images)
                total_loss += criterion(logits, labels).item() * len(labels)
                correct += (logits.argmax(1) == labels).sum().item()
                seen += len(labels)
        scheduler.step()
    print(json.dumps({"epochs": args.epochs, "seconds": time.perf_counter() - started,
                      "val_acc": correct / seen, "val_loss": total_loss / seen}))


if __name__ == "__main__":
    main()
