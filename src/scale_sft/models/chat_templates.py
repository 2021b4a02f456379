"""The chat templates of the tiny models: each renders a conversation exactly as the published checkpoint's
template does (Qwen/Qwen2.5-VL-3B-Instruct, google/gemma-3-4b-it, llava-hf/llava-v1.6-mistral-7b-hf and the
text-only Qwen/Qwen2.5-1.5B-Instruct), so tests
exercise the rendering, BOS and end-of-turn suffixes the real models produce."""

# Qwen2.5-VL, as the published template renders it: ChatML turns, the default system prompt when the first
# message is not a system message, images as <|vision_start|><|image_pad|><|vision_end|> (the processor expands
# <|image_pad|> to one token per merged 28x28 patch). No BOS.
QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


# Gemma 3, as the published template renders it: `<bos>` written by the template, `<start_of_turn>user|model`
# turns, the assistant role renamed `model`, text parts trimmed, a system message put in front of the first user
# turn (Gemma has no system role); an image is `<start_of_image>`, which the processor expands to
# `\n\n<start_of_image>` + `mm_tokens_per_image` x `<image_soft_token>` + `<end_of_image>\n\n`.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- set system = messages[0]['role'] == 'system' -%}"
    "{%- if system and messages[0]['content'] is string -%}"
    "{%- set prefix = messages[0]['content'] | trim -%}"
    "{%- elif system -%}{%- set prefix = messages[0]['content'][0]['text'] | trim -%}"
    "{%- endif -%}"
    "{%- for message in (messages[1:] if system else messages) -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' }}"
    "{%- if loop.first and system -%}{{ prefix + '\n\n' }}{%- endif -%}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


# LLaVA-NeXT (Mistral), as llava-hf's published template renders it: `[INST] <image>\nquestion [/INST] answer</s> `
# (a space after EOS), images first in the user turn, and NO `<s>`: the tokenizer adds BOS, which the package's
# renderer (`scale_sft.data.format.with_bos`) puts back. There is no generation-prompt branch, so the completion
# starts with the space after `[/INST]`. The processor expands `<image>` to one token per anyres feature (base
# image + crops + a newline per feature row).
LLAVA_NEXT_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '[INST] ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
    "{%- endif -%}"
    "{{ ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
    "{%- endif -%}"
    "{{ eos_token + ' ' }}"
    "{%- else -%}"
    "{{ raise_exception('Only user and assistant roles are supported.') }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


# Qwen2.5 (text, e.g. Qwen/Qwen2.5-1.5B-Instruct), as the published template renders a conversation without
# tools: ChatML turns, its own default system prompt when the first message is not a system message, string
# contents only (the package's renderer turns text parts into strings for text-only models). No BOS.
QWEN2_5_TEXT_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if not (loop.first and message['role'] == 'system') -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
