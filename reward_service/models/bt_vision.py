"""``bt_vision``: an image+text Bradley–Terry reward model (MiMo-VL's multimodal RM).

The checkpoint is a :class:`VisionRewardModel`: any transformers vision-language backbone
(``AutoModel.from_config``: Llava, Qwen2-VL, …) whose last hidden state at the last real token
goes through a linear head to one score — the value-head layout multimodal RMs are trained
with. It is saved and loaded with ``save_pretrained`` / ``from_pretrained`` (``model_type``
``raas_vision_reward``); converting another value-head RM means renaming its weights to
``backbone.*`` and ``score.weight``. The processor beside it (``AutoProcessor``) supplies the
chat template and the image placeholders, so each image counts its own tokens in the budget.

The score is pooled at the last position the attention mask marks, for either padding side;
VLM backbones compute their own (often multi-dimensional) position ids, so none are passed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoProcessor,
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.task import Task
from reward_service.models.base import Item, check_length, ids_bytes, messages, pad
from reward_service.models.bt import TextRM
from reward_service.models.config import ModelSpec
from reward_service.models.images import load_images
from reward_service.models.loading import load_weights, resolve_device

MODEL_TYPE = "raas_vision_reward"


class VisionRewardConfig(PretrainedConfig):
    model_type = MODEL_TYPE
    sub_configs: ClassVar[dict[str, type]] = {"backbone_config": AutoConfig}

    def __init__(self, backbone_config: Any = None, **kwargs: Any) -> None:
        if isinstance(backbone_config, dict):
            backbone_config = AutoConfig.for_model(**backbone_config)
        self.backbone_config = backbone_config
        super().__init__(**kwargs)


class VisionRewardModel(PreTrainedModel):
    """A vision-language backbone with a scalar head: ``logits`` is (batch, 1)."""

    config_class = VisionRewardConfig
    base_model_prefix = "backbone"

    def __init__(self, config: VisionRewardConfig) -> None:
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.backbone_config)
        hidden = config.backbone_config.get_text_config().hidden_size
        self.score = nn.Linear(hidden, 1, bias=False)
        self.post_init()  # type: ignore[no-untyped-call]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs: Any
    ) -> SequenceClassifierOutput:
        hidden = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, **inputs
        ).last_hidden_state
        last = attention_mask.shape[1] - 1 - attention_mask.flip(-1).argmax(-1)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return SequenceClassifierOutput(logits=self.score(pooled))


AutoConfig.register(MODEL_TYPE, VisionRewardConfig, exist_ok=True)
AutoModel.register(VisionRewardConfig, VisionRewardModel, exist_ok=True)


class VisionScorer(TextRM):
    """Preparation decodes and bounds the images; the forward pass scores text and images."""

    def __init__(
        self, spec: ModelSpec, processor: ProcessorMixin, model: VisionRewardModel
    ) -> None:
        super().__init__(spec, processor.tokenizer)
        self.processor, self.model = processor, model
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.pad_id = int(self.tokenizer.pad_token_id)

    @classmethod
    def load(cls, spec: ModelSpec) -> VisionScorer:
        device = resolve_device(spec)
        processor = AutoProcessor.from_pretrained(
            spec.path, local_files_only=True, trust_remote_code=spec.trust_remote_code
        )
        if not isinstance(processor, ProcessorMixin) or not processor.chat_template:
            raise ValueError(
                f"a bt_vision model needs a processor (tokenizer, image processor, chat template) "
                f"at {spec.path}; found a {type(processor).__name__}"
            )
        tokenizer = processor.tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if spec.padding_side is not None:
            tokenizer.padding_side = spec.padding_side
        model = load_weights(AutoModel, spec, device)
        if not isinstance(model, VisionRewardModel):
            raise ValueError(f"{spec.path} is a {type(model).__name__}, not a {MODEL_TYPE}")
        return cls(spec, processor, model)

    def prepare(self, task: Task) -> Item:
        images = load_images(task.images, self.spec)
        turns = messages(task.prompt, task.response)
        if images or task.prompt is not None:
            content = [{"type": "image"}] * len(images)
            content.append({"type": "text", "text": task.prompt or ""})
            turns = [{"role": "user", "content": content}, turns[-1]]
        try:
            chat = self.processor.apply_chat_template(turns, tokenize=False)
            encoded = self.processor(
                text=[chat], images=images or None, return_tensors="pt", add_special_tokens=False
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInputError(f"the processor rejected the sample: {exc}") from exc
        ids = [int(i) for i in encoded["input_ids"][0]]
        check_length(self.spec, len(ids))
        extras = {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask")}
        pixels = sum(v.nelement() * v.element_size() for v in extras.values() if torch.is_tensor(v))
        return Item(len(ids), (ids, extras), ids_bytes(ids) + pixels)

    def forward(self, items: list[Item]) -> list[float]:
        ids, mask = pad([item.data[0] for item in items], self.pad_id, self.side)
        inputs: dict[str, Any] = {"input_ids": ids.to(self.device)}
        inputs["attention_mask"] = mask.to(self.device)
        for key in {key for item in items for key in item.data[1]}:
            parts = [item.data[1][key] for item in items if key in item.data[1]]
            tensor = torch.cat(parts).to(self.device)  # images in row order, as the model expects
            inputs[key] = tensor.to(self.dtype) if tensor.is_floating_point() else tensor
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        return [float(x) for x in logits[:, 0].float().cpu()]
