#!/bin/sh
# Regenerates the default Mandarin prompt set of mediagw (src/speech reads these words).
#
# Each word is spoken by espeak-ng's Mandarin voice from tone-numbered pinyin (the
# `cmn-latn-pinyin` voice: the plain `cmn` voice of espeak-ng 1.51 reads some hanzi, 一
# among them, as pinyin with the tone digit spoken in English), then sox turns it into
# 8 kHz mono 16-bit PCM WAV, trims the leading and trailing silence, fades the first 5 ms
# in and the last 10 ms out (no clicks at the cut), normalises the peak to -3 dBFS and
# appends 30 ms of silence so that concatenated words do not run together.
# sox runs with -D (no dither) and -R (repeatable), so the output is byte-identical on
# every run with the same espeak-ng and sox. Needs: espeak-ng, sox.
#
# The table below must match PROMPT_FILES in src/speech/prompt_set.rs (a unit test there
# checks it). Usage: media/prompts/generate.sh   (writes next to this script)
set -eu

cd "$(dirname "$0")"
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null 2>&1 || { echo "generate.sh: $tool is not installed" >&2; exit 1; }
done

VOICE=cmn-latn-pinyin
SPEED=160
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

gen() {
    file=$1
    pinyin=$2
    espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp/raw.wav" "$pinyin"
    sox -D -R "$tmp/raw.wav" -b 16 -e signed-integer -c 1 "$tmp/out.wav" \
        silence 1 0.005 -45d reverse silence 1 0.005 -45d fade q 0.01 reverse fade q 0.005 \
        norm -6 rate -v 8000 norm -3 pad 0 0.03
    mv "$tmp/out.wav" "$file"
}

# prompt        file               pinyin
gen digit_0.wav   "ling2"        # 零
gen digit_1.wav   "yi1"          # 一
gen digit_2.wav   "er4"          # 二
gen digit_3.wav   "san1"         # 三
gen digit_4.wav   "si4"          # 四
gen digit_5.wav   "wu3"          # 五
gen digit_6.wav   "liu4"         # 六
gen digit_7.wav   "qi1"          # 七
gen digit_8.wav   "ba1"          # 八
gen digit_9.wav   "jiu3"         # 九
gen liang.wav     "liang3"       # 两
gen unit_10.wav   "shi2"         # 十
gen unit_100.wav  "bai3"         # 百
gen unit_1000.wav "qian1"        # 千
gen unit_10k.wav  "wan4"         # 万
gen unit_100m.wav "yi4"          # 亿
gen dian.wav      "dian3"        # 点 (decimal point and o'clock)
gen fu.wav        "fu4"          # 负
gen yuan.wav      "yuan2"        # 元
gen jiao.wav      "jiao3"        # 角
gen fen.wav       "fen1"         # 分 (fen of money and minute of the clock)
gen zheng.wav     "zheng3"       # 整
gen nian.wav      "nian2"        # 年
gen yue.wav       "yue4"         # 月
gen ri.wav        "ri4"          # 日
gen miao.wav      "miao3"        # 秒
gen xiaoshi.wav   "xiao3 shi2"   # 小时
gen fenzhong.wav  "fen1 zhong1"  # 分钟
